# cmake -P script behind the packaging.* tests (see CMakeLists.txt here for the variables it is given).
#   CMDBUS_PKG_MODE=find_package      install CMDBUS_PKG_BINARY_DIR into a scratch prefix, point the consumer at it
#   CMDBUS_PKG_MODE=add_subdirectory  hand the consumer the cmdbus source directory
# Then configure and build CMDBUS_PKG_CONSUMER from scratch under CMDBUS_PKG_WORK_DIR, run it, compare its output.
cmake_minimum_required(VERSION 3.25)

foreach(var CMDBUS_PKG_MODE CMDBUS_PKG_GENERATOR CMDBUS_PKG_CXX_COMPILER CMDBUS_PKG_SOURCE_DIR CMDBUS_PKG_CONSUMER
            CMDBUS_PKG_WORK_DIR CMDBUS_PKG_EXPECTED)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: ${var} is not set")
  endif()
endforeach()

# run(STEP COMMAND...) runs a command, echoing it, and fails the test with the step's name and output if it fails.
function(run step)
  list(JOIN ARGN " " shown)
  message(STATUS "[${step}] ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "packaging ${CMDBUS_PKG_MODE}: step '${step}' failed (${rc}):\n${out}")
  endif()
endfunction()

set(work "${CMDBUS_PKG_WORK_DIR}")
set(build "${work}/build")
file(REMOVE_RECURSE "${work}")  # from scratch every time: a stale cache must not hide a packaging bug
file(MAKE_DIRECTORY "${work}")

set(config "${CMDBUS_PKG_CONFIG}")
if(config STREQUAL "")
  set(config Release)
endif()
set(configure_args -S "${CMDBUS_PKG_CONSUMER}" -B "${build}" -G "${CMDBUS_PKG_GENERATOR}"
                   "-DCMAKE_CXX_COMPILER=${CMDBUS_PKG_CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${config}")
if(CMDBUS_PKG_MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${CMDBUS_PKG_MAKE_PROGRAM}")
endif()

if(CMDBUS_PKG_MODE STREQUAL "find_package")
  set(prefix "${work}/prefix")
  run(install "${CMAKE_COMMAND}" --install "${CMDBUS_PKG_BINARY_DIR}" --prefix "${prefix}" --config "${config}")
  # Only the scratch prefix may provide cmdbus: no user or system package registry, no cmdbus_DIR from outside.
  list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
       -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
elseif(CMDBUS_PKG_MODE STREQUAL "add_subdirectory")
  list(APPEND configure_args "-DCONSUMER_CMDBUS_SOURCE_DIR=${CMDBUS_PKG_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown CMDBUS_PKG_MODE '${CMDBUS_PKG_MODE}'")
endif()

run(configure "${CMAKE_COMMAND}" ${configure_args})

if(CMDBUS_PKG_MODE STREQUAL "find_package")
  # The consumer must have found the installed package, not a build tree.
  file(STRINGS "${build}/CMakeCache.txt" found REGEX "^cmdbus_DIR:")
  string(REGEX REPLACE "^cmdbus_DIR:[A-Z]+=" "" found "${found}")
  file(REAL_PATH "${prefix}" real_prefix)
  file(REAL_PATH "${found}" real_found)
  string(FIND "${real_found}/" "${real_prefix}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "packaging find_package: cmdbus was found in '${found}', not under the prefix '${prefix}'")
  endif()
  message(STATUS "cmdbus_DIR=${found}")
endif()

run(build "${CMAKE_COMMAND}" --build "${build}" --config "${config}")

find_program(exe NAMES consumer PATHS "${build}" "${build}/${config}" NO_DEFAULT_PATH NO_CACHE)
if(NOT exe)
  message(FATAL_ERROR "packaging ${CMDBUS_PKG_MODE}: the consumer executable was not built in ${build}")
endif()
execute_process(COMMAND "${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(STRIP "${out}" out)
if(NOT rc STREQUAL "0" OR NOT out STREQUAL CMDBUS_PKG_EXPECTED)
  message(FATAL_ERROR "packaging ${CMDBUS_PKG_MODE}: ${exe} exited with ${rc} and printed\n'${out}'\n"
                      "expected '${CMDBUS_PKG_EXPECTED}'\nstderr:\n${err}")
endif()
message(STATUS "packaging ${CMDBUS_PKG_MODE}: ok, the consumer printed '${out}'")
