# Install rules and the CMake package, so that consumers can write
#   find_package(cmdbus REQUIRED)
#   target_link_libraries(app PRIVATE cmdbus::cmdbus)   # or cmdbus::core without the local route kind
# Included from the root CMakeLists.txt when CMDBUS_INSTALL is ON (the default when cmdbus is the top-level project).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CMDBUS_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/cmdbus"
    CACHE STRING "Where cmdbusConfig.cmake is installed, relative to the install prefix")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/cmdbus"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT cmdbus_development
        FILES_MATCHING PATTERN "*.hpp")

# The include directory comes from cmdbus_core's own $<INSTALL_INTERFACE:...>; cmdbus_project_options is linked
# through $<BUILD_INTERFACE:...> and is therefore not part of the export.
# The stores are separate targets in the same package: cmdbus::sqlite, cmdbus::postgres, when built.
set(_cmdbus_installed_targets cmdbus_core cmdbus_logging cmdbus)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/logging/include/cmdbus" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT cmdbus_development FILES_MATCHING PATTERN "*.hpp")
if(TARGET cmdbus_local)
  list(APPEND _cmdbus_installed_targets cmdbus_local)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/transports/local/include/cmdbus" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
          COMPONENT cmdbus_development FILES_MATCHING PATTERN "*.hpp")
endif()
set(CMDBUS_PACKAGE_HAS_WIRE OFF)
if(TARGET cmdbus_wire)
  list(APPEND _cmdbus_installed_targets cmdbus_wire)
  set(CMDBUS_PACKAGE_HAS_WIRE ON)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/wire/include/cmdbus" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
          COMPONENT cmdbus_development FILES_MATCHING PATTERN "*.hpp")
endif()
if(TARGET cmdbus_durable)
  list(APPEND _cmdbus_installed_targets cmdbus_durable)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/transports/durable/include/cmdbus" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
          COMPONENT cmdbus_development FILES_MATCHING PATTERN "*.hpp")
endif()
set(CMDBUS_PACKAGE_HAS_SQLITE OFF)
set(CMDBUS_PACKAGE_HAS_POSTGRES OFF)
if(TARGET cmdbus_sqlite)
  list(APPEND _cmdbus_installed_targets cmdbus_sqlite)
  set(CMDBUS_PACKAGE_HAS_SQLITE ON)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/stores/sqlite/include/cmdbus" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
          COMPONENT cmdbus_development FILES_MATCHING PATTERN "*.hpp")
endif()
if(TARGET cmdbus_postgres)
  list(APPEND _cmdbus_installed_targets cmdbus_postgres)
  set(CMDBUS_PACKAGE_HAS_POSTGRES ON)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/stores/postgres/include/cmdbus" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
          COMPONENT cmdbus_development FILES_MATCHING PATTERN "*.hpp")
endif()

install(TARGETS ${_cmdbus_installed_targets}
        EXPORT cmdbusTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT cmdbus_development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT cmdbus_runtime
                NAMELINK_COMPONENT cmdbus_development
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT cmdbus_runtime)

install(EXPORT cmdbusTargets
        NAMESPACE cmdbus::
        FILE cmdbusTargets.cmake
        DESTINATION "${CMDBUS_INSTALL_CMAKEDIR}"
        COMPONENT cmdbus_development)

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/cmdbusConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/cmdbusConfig.cmake"
                              INSTALL_DESTINATION "${CMDBUS_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/cmdbusConfigVersion.cmake"
                                 VERSION "${PROJECT_VERSION}"
                                 COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/cmdbusConfig.cmake" "${PROJECT_BINARY_DIR}/cmdbusConfigVersion.cmake"
        DESTINATION "${CMDBUS_INSTALL_CMAKEDIR}"
        COMPONENT cmdbus_development)
