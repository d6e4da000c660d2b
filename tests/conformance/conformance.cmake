# tests/conformance/conformance.cmake - Spark Streaming conformance: the
# lifecycle rules, exact results of the operations on the manual clock, and
# the byte-for-byte print format (SEMANTICS.md).
spate_add_test(test_lifecycle ${CMAKE_CURRENT_LIST_DIR}/test_lifecycle.c conformance 120)
spate_add_test(test_operations ${CMAKE_CURRENT_LIST_DIR}/test_operations.c conformance 180)
spate_add_test(test_print ${CMAKE_CURRENT_LIST_DIR}/test_print.c conformance 120)
spate_add_test(test_window ${CMAKE_CURRENT_LIST_DIR}/test_window.c conformance 120)
spate_add_test(test_union ${CMAKE_CURRENT_LIST_DIR}/test_union.c conformance 60)
spate_add_test(test_state ${CMAKE_CURRENT_LIST_DIR}/test_state.c conformance 120)
spate_add_test(test_join ${CMAKE_CURRENT_LIST_DIR}/test_join.c conformance 120)
spate_add_test(test_text_files ${CMAKE_CURRENT_LIST_DIR}/test_text_files.c conformance 60)
spate_add_test(test_map_state ${CMAKE_CURRENT_LIST_DIR}/test_map_state.c conformance 60)
spate_add_test(test_arrow ${CMAKE_CURRENT_LIST_DIR}/test_arrow.c conformance 60)
spate_add_test(test_pairs ${CMAKE_CURRENT_LIST_DIR}/test_pairs.c conformance 60)
spate_add_test(test_csv ${CMAKE_CURRENT_LIST_DIR}/test_csv.c conformance 60)
spate_add_test(test_receiver ${CMAKE_CURRENT_LIST_DIR}/test_receiver.c conformance 60)
spate_add_test(test_filters ${CMAKE_CURRENT_LIST_DIR}/test_filters.c conformance 180)
spate_add_test(test_agg ${CMAKE_CURRENT_LIST_DIR}/test_agg.c conformance 120)
