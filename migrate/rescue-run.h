/* SPDX-License-Identifier: GPL-2.0 */
/* orthros-rescue's failover and export subcommands (rescue-run.c). */
#ifndef ORTHROS_RESCUE_RUN_H
#define ORTHROS_RESCUE_RUN_H

int cmd_failover(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif
