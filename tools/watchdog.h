/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ORTHROS_WATCHDOG_H
#define ORTHROS_WATCHDOG_H

/* orthros watchdog ARGS (after "watchdog"): 0 stopped by a signal, 1 error, 2 usage */
int watchdog_cmd(int argc, char **argv);

#endif
