# End-to-end test of daemon mode on a real Nomad dev agent (see
# e2e_tests.cmake for how the agent is built and when these are registered):
# python tasks run by elide-execd, `nomad alloc exec` into them (with and
# without a TTY, the python REPL, after a daemon restart), a kill -9 of the
# plugin mid-stream, a restart of the daemon mid-stream (SIGTERM and
# SIGKILL), the fingerprint while the daemon is down; log bytes are compared
# exactly.
if(ELIDE_E2E)
  add_test(NAME e2e.daemon_mode
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_daemon.py
            $<TARGET_FILE:nomad-driver-elide> $<TARGET_FILE:elide-execd>)
  set_tests_properties(e2e.daemon_mode PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
