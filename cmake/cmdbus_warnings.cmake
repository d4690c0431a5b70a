# Project-wide compile settings for cmdbus's own targets: warnings (as errors where asked) and sanitizers.
add_library(cmdbus_project_options INTERFACE)
target_compile_options(cmdbus_project_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                                        -Wold-style-cast -Wcast-align -Woverloaded-virtual)
if(CMDBUS_WERROR)
  target_compile_options(cmdbus_project_options INTERFACE -Werror)
endif()

if(CMDBUS_SANITIZE STREQUAL "address")
  set(_cmdbus_san -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
elseif(CMDBUS_SANITIZE STREQUAL "thread")
  # -Wno-tsan: moodycamel's queue uses std::atomic_thread_fence, which g++ warns TSan does not model.
  set(_cmdbus_san -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
elseif(NOT CMDBUS_SANITIZE STREQUAL "")
  message(FATAL_ERROR "CMDBUS_SANITIZE='${CMDBUS_SANITIZE}': use '', 'address' or 'thread'")
endif()
if(_cmdbus_san)
  # Applied to everything in this build (library, tests, examples) so instrumented and plain code never mix.
  add_compile_options(${_cmdbus_san})
  add_link_options(${_cmdbus_san})
endif()
