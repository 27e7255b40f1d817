# ABI tests: purpose-built fixture modules for every loader refusal, the
# loader against them (also built as a host one minor newer), the exported
# symbols of every shipped module, the struct layout baseline, and the
# vendor-module example built out of tree against an installed prefix.
set(ABI_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
set(ABI_FIXTURE_DIR ${CMAKE_CURRENT_BINARY_DIR}/abi-fixtures)

# One fixture module: fixtures/fixture_module.c with FIX_* definitions that
# break one thing (FIX_FIXTURE only names the build). Built outside the
# module directory, which the driver and abi.module_exports read.
set(abi_fixture_targets)
macro(abi_fixture name)
  add_library(abi_fixture_${name} MODULE ${ABI_TEST_DIR}/fixtures/fixture_module.c)
  target_link_libraries(abi_fixture_${name} PRIVATE elide_abi elide_warnings)
  target_link_options(abi_fixture_${name} PRIVATE -Wl,--no-undefined)
  target_compile_definitions(abi_fixture_${name} PRIVATE FIX_FIXTURE=${name} ${ARGN})
  set_target_properties(abi_fixture_${name} PROPERTIES PREFIX "" OUTPUT_NAME ${name}
    LIBRARY_OUTPUT_DIRECTORY ${ABI_FIXTURE_DIR})
  list(APPEND abi_fixture_targets abi_fixture_${name})
endmacro()

abi_fixture(good)
abi_fixture(no_entry FIX_NO_EXPORT)
abi_fixture(entry_v2 FIX_ENTRY_NAME=elide_module_entry_v2)
abi_fixture(null_descriptor FIX_NULL_DESCRIPTOR)
abi_fixture(short_head FIX_SIZE=8)
abi_fixture(short_desc FIX_SIZE=64)
abi_fixture(wrong_major FIX_MAJOR=2)
# minor0: built as ABI 1.0, whose ops table ends before 1.1's repl (the
# table in its memory still has one: the loader must not read it).
abi_fixture(minor0 FIX_MINOR=0 "FIX_OPS_SIZE=offsetof(elide_module_ops,repl)" FIX_NAME="minor0"
  FIX_LANG="minor0" FIX_PREFIX="minor0")
# Minors newer than this host's, by one and by two.
abi_fixture(minor_next "FIX_MINOR=(ELIDE_ABI_MINOR+1)" FIX_NAME="minor_next"
  FIX_LANG="minor_next" FIX_PREFIX="minor_next")
abi_fixture(minor_after "FIX_MINOR=(ELIDE_ABI_MINOR+2)" FIX_NAME="minor_after"
  FIX_LANG="minor_after" FIX_PREFIX="minor_after")
abi_fixture(no_name FIX_NO_NAME)
abi_fixture(bad_name FIX_NAME="Bad-Name")
abi_fixture(no_langs FIX_NO_LANGS)
abi_fixture(bad_lang "FIX_LANG=\"Lua 5\"")
abi_fixture(bad_caps FIX_CAPS=0x81)
abi_fixture(no_ops FIX_NO_OPS)
abi_fixture(short_ops FIX_OPS_SIZE=16)
# A 1.1 module with only the 1.0 ops table.
abi_fixture(short_ops_1_1 "FIX_OPS_SIZE=offsetof(elide_module_ops,repl)")
abi_fixture(null_op FIX_NULL_EXECUTE)
abi_fixture(bad_key_name FIX_KEY2="Greeting")
abi_fixture(bad_key_type FIX_KEY2_TYPE=9)
abi_fixture(bad_key_flags FIX_KEY2_FLAGS=6)
abi_fixture(bad_key_default FIX_KEY2_TYPE=ELIDE_VALUE_INT)
abi_fixture(required_default FIX_KEY2_FLAGS=ELIDE_KEY_REQUIRED)
abi_fixture(dup_key FIX_KEY2="shell")
abi_fixture(config_mode FIX_KEY2="mode")
abi_fixture(task_script FIX_TASK_KEY="script")
abi_fixture(task_language FIX_TASK_KEY="language")
abi_fixture(bad_prefix FIX_PREFIX="module")
abi_fixture(orphan_section_keys FIX_PREFIX=NULL)
abi_fixture(dup_name FIX_LANG="other" FIX_PREFIX="other")
abi_fixture(dup_lang FIX_NAME="dup_lang" FIX_PREFIX="dup_lang")
abi_fixture(dup_prefix FIX_NAME="dup_prefix" FIX_LANG="other")
abi_fixture(init_fails FIX_INIT_FAILS FIX_NAME="init_fails" FIX_LANG="failing" FIX_PREFIX="failing")

set(abi_common ${ABI_TEST_DIR}/abi_test_util.c ${CMAKE_CURRENT_SOURCE_DIR}/unit/mock_host.c)
set(abi_includes ${ABI_TEST_DIR} ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/unit)

add_executable(test_loader ${ABI_TEST_DIR}/test_loader.c ${abi_common})
target_include_directories(test_loader PRIVATE ${abi_includes})
target_link_libraries(test_loader PRIVATE elide_core elide_warnings)
target_compile_definitions(test_loader PRIVATE ABI_FIXTURE_DIR="${ABI_FIXTURE_DIR}")
add_dependencies(test_loader ${abi_fixture_targets})
add_test(NAME abi.loader COMMAND test_loader)

# The same loader source as a host whose ABI minor is one newer.
add_executable(test_loader_minor ${ABI_TEST_DIR}/test_loader_minor.c ${abi_common}
  ${PROJECT_SOURCE_DIR}/host/core/modules.c ${PROJECT_SOURCE_DIR}/host/core/log.c)
target_include_directories(test_loader_minor PRIVATE ${abi_includes} ${PROJECT_SOURCE_DIR}/host/core)
target_link_libraries(test_loader_minor PRIVATE elide_abi ${CMAKE_DL_LIBS} elide_warnings)
target_compile_definitions(test_loader_minor PRIVATE ABI_FIXTURE_DIR="${ABI_FIXTURE_DIR}"
  ELIDE_HOST_ABI_MINOR=ELIDE_ABI_MINOR+1)
add_dependencies(test_loader_minor ${abi_fixture_targets})
add_test(NAME abi.loader_host_minor COMMAND test_loader_minor)

add_executable(test_abi_layout ${ABI_TEST_DIR}/test_abi_layout.c)
target_link_libraries(test_abi_layout PRIVATE elide_abi elide_warnings)
add_test(NAME abi.layout COMMAND test_abi_layout ${ABI_TEST_DIR}/abi_layout.baseline)
set_tests_properties(abi.layout PROPERTIES SKIP_RETURN_CODE 77)

# Every module in the build's module directory, globbed when the test runs.
add_test(NAME abi.module_exports
  COMMAND ${ABI_TEST_DIR}/check_exports.sh ${ELIDE_BUILD_MODULEDIR} ${ABI_FIXTURE_DIR}/good.so)

add_executable(test_vendor_module ${ABI_TEST_DIR}/test_vendor_module.c ${abi_common})
target_include_directories(test_vendor_module PRIVATE ${abi_includes})
target_link_libraries(test_vendor_module PRIVATE elide_core elide_warnings)
add_test(NAME abi.vendor_module
  COMMAND ${ABI_TEST_DIR}/vendor_module_test.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR}
          ${CMAKE_C_COMPILER} $<TARGET_FILE:test_vendor_module>)
set_tests_properties(abi.vendor_module PROPERTIES TIMEOUT 180)

# The real plugin over gRPC: refusals reach the fingerprint with their
# reasons and the driver keeps running.
add_executable(test_refusal_fingerprint ${ABI_TEST_DIR}/test_refusal_fingerprint.c
  ${ABI_TEST_DIR}/abi_test_util.c ${CMAKE_CURRENT_SOURCE_DIR}/integration/plugin_harness.c)
target_include_directories(test_refusal_fingerprint PRIVATE ${abi_includes}
  ${CMAKE_CURRENT_SOURCE_DIR}/integration)
target_link_libraries(test_refusal_fingerprint PRIVATE elide_rpc elide_proto PkgConfig::MSGPACK
  elide_warnings)
target_compile_definitions(test_refusal_fingerprint PRIVATE ABI_FIXTURE_DIR="${ABI_FIXTURE_DIR}"
  PLUGIN_BINARY="$<TARGET_FILE:nomad-driver-elide>")
add_dependencies(test_refusal_fingerprint nomad-driver-elide elide-monitor ${abi_fixture_targets})
add_test(NAME abi.refusals_in_fingerprint COMMAND test_refusal_fingerprint)
set_tests_properties(abi.refusals_in_fingerprint PROPERTIES TIMEOUT 120 LABELS integration)
