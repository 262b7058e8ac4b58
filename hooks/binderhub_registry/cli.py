"""The command line: ``main(argv=None) -> int`` with one error handler and documented exit codes
(0 success; 1 credentials rejected or no push permission; 2 invalid input or configuration;
3 registry or API unreachable or timed out, or an unexpected error)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from collections.abc import Sequence

from binderhub_registry import __version__
from binderhub_registry.errors import ExitCode, RegistrySetupError, Unreachable
from binderhub_registry.helper_contract import HELPER_PORT, HELPER_TOKEN_FILE
from binderhub_registry.progress import Progress

COMMANDS = {
    "provision": "Create or validate push credentials, prove them, and write the Secret and BinderHub settings.",
    "check": "Prove that a docker config.json (default: the Secret provision wrote) can push.",
    "render": "Print the BinderHub settings offline: no cloud or cluster calls.",
    "cleanup": "Revoke what this tool created and delete its Secret and settings ConfigMap (and the helm test Pod).",
    "serve": "Run the registry helper BinderHub's ExternalRegistryHelper asks for short-lived push credentials.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="binderhub-registry",
        description="Set up, prove and rotate the container-registry credentials of a BinderHub installation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--values",
            "-f",
            action="append",
            required=True,
            metavar="FILE",
            help="values file, as given to `helm install -f`; repeat to merge several like Helm",
        )
        sub.add_argument("--namespace", "-n", help="namespace of the Secret (default: in-cluster namespace or kubeconfig context)")
        sub.add_argument("--log-format", choices=("text", "json"), default="text", help="progress lines on stderr")
        sub.add_argument("--debug", action="store_true", help="print a traceback for unexpected errors")
        if name == "provision":
            sub.add_argument(
                "--output",
                "-o",
                metavar="-|DIR",
                help="print the Secret and ConfigMap on stdout (-) or write them to DIR instead of applying them",
            )
        if name == "check":
            sub.add_argument("--docker-config", metavar="PATH", help="config.json to check (default: the Secret provision wrote)")
            sub.add_argument("--registry-helper", metavar="URL", help="check the registry helper's credentials (keyless Google, ECR)")
            sub.add_argument(
                "--registry-helper-token-file",
                default=HELPER_TOKEN_FILE,
                metavar="PATH",
                help="the bearer token BinderHub sends to the registry helper",
            )
        if name == "cleanup":
            sub.add_argument("--test-pod", metavar="NAME",
                             help="also delete this Pod (the chart's `helm test` Pod, which Helm leaves behind)")
        if name == "serve":
            _serve_arguments(sub)
    return parser


def _serve_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--listen", default=f"0.0.0.0:{HELPER_PORT}", metavar="HOST:PORT", help="address to listen on (port 0: any free port)")
    sub.add_argument(
        "--auth-token-file",
        default=HELPER_TOKEN_FILE,
        metavar="PATH",
        help="file holding the bearer token BinderHub sends (the chart's Secret)",
    )
    sub.add_argument("--pull-secret", metavar="NAME", default="",
                     help="ECR: keep this Secret (created by the hook) holding a live ECR token for user pods to pull with")
    sub.add_argument("--drain-seconds", type=float, default=5.0, help="after SIGTERM, report not-ready and keep serving this long")
    sub.add_argument("--graceful-seconds", type=int, default=20, help="then wait at most this long for requests in flight")


class Terminated(Unreachable):
    """SIGTERM: the Job's activeDeadlineSeconds ran out, or the pod was evicted."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(
        "Stopped by SIGTERM (the Job's activeDeadlineSeconds ran out or the pod was evicted) before finishing; "
        "run the install or upgrade again: the next run converges from where this one stopped."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = Progress(args.log_format)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        command = importlib.import_module(f"binderhub_registry.commands.{args.command}")
        return int(command.run(args, progress))
    except KeyboardInterrupt:
        progress.error("Interrupted.")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001  (the one place that turns bugs into a clean exit)
        if args.debug:
            progress.error(traceback.format_exc())
        if isinstance(exc, RegistrySetupError):
            progress.error(exc.message, exitCode=int(exc.exit_code))
            return int(exc.exit_code)
        progress.error(
            f"Unexpected error ({type(exc).__name__}); re-run with --debug and report it to binderhub-registry.",
            exitCode=int(ExitCode.UNREACHABLE),
        )
        return int(ExitCode.UNREACHABLE)


def entry_point() -> None:
    """The console script (and `python -m binderhub_registry`)."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
