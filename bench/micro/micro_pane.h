/*
 * bench/micro/micro_pane.h - window pane combine benchmarks of spate-micro.
 */
#ifndef SP_MICRO_PANE_H
#define SP_MICRO_PANE_H

/* Make the tables and panes and register pane_combine/... */
void sp_micro_pane_register(void);

#endif /* SP_MICRO_PANE_H */
