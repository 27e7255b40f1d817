# End-to-end tests of limits on a real Nomad dev agent (see e2e_tests.cmake
# for how the agent is built and when these are registered): the task in
# Nomad's cgroups with the limits its numbers give, `alloc status -stats`,
# an OOM kill and a `timeout` reported in `nomad alloc status`.
if(ELIDE_E2E)
  add_test(NAME e2e.limits
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_limits.py
            $<TARGET_FILE:nomad-driver-elide>)
  set_tests_properties(e2e.limits PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
