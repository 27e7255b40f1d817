# End-to-end test of the js backend on a real Nomad dev agent (see
# e2e_tests.cmake for how the agent is built and when these are registered):
# the examples/jobs/js-*.nomad.hcl jobs, a failing task and a bad
# js_module_type refused with the field named.
if(ELIDE_E2E)
  add_test(NAME e2e.js_jobs
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_js.py
            $<TARGET_FILE:nomad-driver-elide>)
  set_tests_properties(e2e.js_jobs PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
