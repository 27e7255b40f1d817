# End-to-end tests of the production lifecycle on a real Nomad dev agent (see
# e2e_tests.cmake for how the agent is built and when these are registered):
# survival of 22 tasks across a kill -9 of the plugin, start and recovery
# events, descriptor and environment hygiene (e2e.lifecycle); allow_root and
# the job's user (e2e.safety); a Consul script check run through ExecTask on
# a private Consul agent built by build-consul.sh (e2e.script_check).
if(ELIDE_E2E)
  add_test(NAME e2e.lifecycle
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_lifecycle.py
            $<TARGET_FILE:nomad-driver-elide>)
  set_tests_properties(e2e.lifecycle PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
if(ELIDE_E2E)
  add_test(NAME e2e.safety
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_safety.py
            $<TARGET_FILE:nomad-driver-elide>)
  set_tests_properties(e2e.safety PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
if(ELIDE_E2E)
  add_test(NAME e2e.script_check
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_script_check.py
            $<TARGET_FILE:nomad-driver-elide>)
  set_tests_properties(e2e.script_check PROPERTIES TIMEOUT 3600 LABELS e2e RUN_SERIAL TRUE)
endif()
