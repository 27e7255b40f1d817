# Unit tests of the native backend: the signature parser and the ELF symbol
# reader linked in directly, and the module (native.so, dlopened) with its
# runner against the mock host, calling functions of the fixture libraries.
include(${CMAKE_CURRENT_LIST_DIR}/../fixtures/native/native_fixtures.cmake)

add_executable(test_native_signature ${CMAKE_CURRENT_LIST_DIR}/test_native_signature.c)
target_link_libraries(test_native_signature PRIVATE elide_native_common elide_warnings m)
add_test(NAME test_native_signature COMMAND test_native_signature)

add_executable(test_native_elf ${CMAKE_CURRENT_LIST_DIR}/test_native_elf.c)
target_link_libraries(test_native_elf PRIVATE elide_native_common elide_warnings ${CMAKE_DL_LIBS})
target_compile_definitions(test_native_elf PRIVATE
  ELIDE_TEST_NATIVE_FIXTURES="${ELIDE_NATIVE_FIXTURE_DIR}")
add_dependencies(test_native_elf native_fixture_mathlib native_fixture_mathlib_sysv)
add_test(NAME test_native_elf COMMAND test_native_elf)

add_executable(test_native_backend ${CMAKE_CURRENT_LIST_DIR}/test_native_backend.c
  ${CMAKE_CURRENT_LIST_DIR}/mock_host.c)
target_link_libraries(test_native_backend PRIVATE elide_abi ${CMAKE_DL_LIBS} elide_warnings)
# FFI_VERSION is cached by pkg_check_modules in plugins/native.
target_compile_definitions(test_native_backend PRIVATE
  ELIDE_TEST_NATIVE_MODULE="$<TARGET_FILE:native>"
  ELIDE_TEST_NATIVE_RUNNER="$<TARGET_FILE:elide-native-runner>"
  ELIDE_TEST_NATIVE_FIXTURES="${ELIDE_NATIVE_FIXTURE_DIR}"
  ELIDE_TEST_FFI_VERSION="${FFI_VERSION}")
# mock_host.c keeps its instances in a write-only static array, which
# GCC 12+ reports as unused-but-set.
target_compile_options(test_native_backend PRIVATE -Wno-unused-but-set-variable)
add_dependencies(test_native_backend native elide-native-runner native_fixture_mathlib
  native_fixture_needs_gone)
add_test(NAME test_native_backend COMMAND test_native_backend)
set_tests_properties(test_native_signature test_native_elf test_native_backend
  PROPERTIES TIMEOUT 120)
