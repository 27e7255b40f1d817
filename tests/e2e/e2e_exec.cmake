# End-to-end test of exec on a real Nomad dev agent (see e2e_tests.cmake for
# how the agent is built and when these are registered): `nomad alloc exec`
# without a TTY and with one (under a pty, with a resize), the task's env,
# directory, user and cgroups, and `elide-repl` for python and js.
if(ELIDE_E2E)
  add_test(NAME e2e.exec
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_exec.py
            $<TARGET_FILE:nomad-driver-elide>)
  set_tests_properties(e2e.exec PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
