# The out-of-tree vendor module (examples/vendor-module) built against the
# installed header and run by the installed driver on a real Nomad agent.
if(ELIDE_E2E)
  add_test(NAME e2e.vendor_module
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_vendor.py
            ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
  set_tests_properties(e2e.vendor_module PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
