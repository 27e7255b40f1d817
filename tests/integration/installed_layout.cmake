# Installs the build into PREFIX and runs the lifecycle test against the
# installed nomad-driver-elide (see integration_tests.cmake).
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(f bin/nomad-driver-elide lib/nomad-driver-elide/elide-monitor lib/nomad-driver-elide/elide-relay
          lib/nomad-driver-elide/modules/python.so)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "not installed: ${PREFIX}/${f}")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -E env ELIDE_PLUGIN_BINARY=${PREFIX}/bin/nomad-driver-elide
                        ${TEST_BINARY}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lifecycle test against the installed binary failed: ${rc}")
endif()
