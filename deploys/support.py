"""
What every deploy script does first: validate this host's data, read the host
once, and stop this host (only this one) with plain messages when it cannot go on.
"""

from __future__ import annotations

from pyinfra import host, logger, state

from spec.schema import validate_dom0


def host_spec():
    return validate_dom0(host.name, host.data.dict())


def stop_this_host(problems: list[str], stage: str) -> None:
    """Log each problem, then mark the host failed: no operation runs on it."""

    for problem in problems:
        host.log_styled(f"{stage}: {problem}", fg="red", log_func=logger.error)
    host.log_styled(f"{stage} failed: nothing was changed on this host", fg="red", log_func=logger.error)
    state.fail_hosts({host._get_module()})
