# evs_library(NAME SRCS ... DEPS ...): one static library per module with
# per-target warnings (never global flags). Include paths are from src/.
function(evs_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(evs_${name} STATIC ${ARG_SRCS})
  target_include_directories(evs_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(evs_${name} PUBLIC ${ARG_DEPS})
  target_compile_options(evs_${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  add_library(evs::${name} ALIAS evs_${name})
endfunction()

# evs_test(NAME SRCS ... DEPS ...): a GoogleTest binary registered with ctest.
function(evs_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT EVS_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS "${ARG_LABELS}")
endfunction()
