/* main.c - cachefleet-carts: the carts consumer program.
 *
 * Hands the carts consumer's definition to the runtime.  The stop flag
 * below is the program's only global; the signal handlers only set it.
 */
#include <signal.h>
#include <string.h>

#include "carts.h"
#include "runtime.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return cf_runtime_main(&carts_consumer, argc, argv, &stop);
}
