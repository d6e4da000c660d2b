# tests/unit/kernels.cmake - kernel tests: differential (every ISA built and
# supported against scalar) and dispatch.
spate_add_test(test_kernels_text ${CMAKE_CURRENT_LIST_DIR}/test_kernels_text.c unit 120)
spate_add_test(test_kernels_filter ${CMAKE_CURRENT_LIST_DIR}/test_kernels_filter.c unit 120)
spate_add_test(test_kernels_hash ${CMAKE_CURRENT_LIST_DIR}/test_kernels_hash.c unit 120)
spate_add_test(test_dispatch ${CMAKE_CURRENT_LIST_DIR}/test_dispatch.c unit 60)
spate_add_test(test_kernels_parse ${CMAKE_CURRENT_LIST_DIR}/test_kernels_parse.c unit 120)
spate_add_test(test_kernels_column ${CMAKE_CURRENT_LIST_DIR}/test_kernels_column.c unit 300)
spate_add_test(test_kernels_binary ${CMAKE_CURRENT_LIST_DIR}/test_kernels_binary.c unit 120)
spate_add_test(test_kernels_join ${CMAKE_CURRENT_LIST_DIR}/test_kernels_join.c unit 300)
spate_add_test(test_kernels_pane ${CMAKE_CURRENT_LIST_DIR}/test_kernels_pane.c unit 300)
