/*
 * bench/micro/micro_join.h - hash join benchmarks of spate-micro.
 */
#ifndef SP_MICRO_JOIN_H
#define SP_MICRO_JOIN_H

/* Make the rows and register join_probe/... and join_build/... */
void sp_micro_join_register(void);

#endif /* SP_MICRO_JOIN_H */
