# spate-stress: exactly-once delivery under bursts, reconnects, backpressure and slow sinks.
# Built into <tree>/bench/ like the other drivers; CTest runs a short version.
add_executable(spate-stress ${CMAKE_CURRENT_LIST_DIR}/spate_stress.c)
target_compile_options(spate-stress PRIVATE ${SPATE_WARNINGS})
target_link_libraries(spate-stress PRIVATE spate)
set_target_properties(spate-stress PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
add_test(NAME stress_exactly_once COMMAND spate-stress --producers 4 --seconds 4 --workers 2)
set_tests_properties(stress_exactly_once PROPERTIES LABELS stress TIMEOUT 180)
add_test(NAME stress_listen_exactly_once COMMAND spate-stress --producers 8 --seconds 3 --workers 2 --listen 1)
set_tests_properties(stress_listen_exactly_once PROPERTIES LABELS stress TIMEOUT 180)
