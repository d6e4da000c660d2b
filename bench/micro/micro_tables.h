/*
 * bench/micro/micro_tables.h - group-by table benchmarks of spate-micro.
 */
#ifndef SP_MICRO_TABLES_H
#define SP_MICRO_TABLES_H

/* Make the rows and register groupby_str/... and groupby_i64/... */
void sp_micro_tables_register(void);

#endif /* SP_MICRO_TABLES_H */
