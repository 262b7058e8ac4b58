/* The pod sandbox's process for the test cluster (image registry.k8s.io/pause:3.10, built here).
 *
 * It holds the pod's namespaces and does nothing else: it sleeps until SIGINT or SIGTERM, then
 * exits 0, and reaps every child reparented to it (it is PID 1 of the pod when the process
 * namespace is shared). Signals are blocked except while it waits in sigsuspend(), so one that
 * arrives between the check and the wait is not lost. Written for this project's test images. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static volatile sig_atomic_t stop_requested;

static void request_stop(int signal_number) {
    (void)signal_number;
    stop_requested = 1;
}

static void note_child(int signal_number) {
    (void)signal_number;  /* the reaping happens in the loop, after sigsuspend() returns */
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("pause (binderhub-registry test image)");
        return 0;
    }
    sigset_t handled, waiting;
    sigemptyset(&handled);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGCHLD);
    sigprocmask(SIG_BLOCK, &handled, &waiting);
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGCHLD);

    struct sigaction stop = {.sa_handler = request_stop};
    struct sigaction child = {.sa_handler = note_child, .sa_flags = SA_NOCLDSTOP};
    sigemptyset(&stop.sa_mask);
    sigemptyset(&child.sa_mask);
    if (sigaction(SIGINT, &stop, NULL) || sigaction(SIGTERM, &stop, NULL) || sigaction(SIGCHLD, &child, NULL)) {
        perror("pause: sigaction");
        return 1;
    }
    while (!stop_requested) {
        sigsuspend(&waiting);
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
    return 0;
}
