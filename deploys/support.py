"""
What every deploy script does first: validate this host's data, and stop this
host (only this one) with plain messages when it cannot go on.
"""

from __future__ import annotations

from pyinfra import host, logger, state

from spec.inventory import HostSpec, validate_host


def host_spec() -> HostSpec:
    """This host's validated data (config.py has already checked the whole inventory)."""

    return validate_host(host.name, host.data.dict())


def stop_this_host(problems: list[str], stage: str) -> None:
    """Log each problem, then mark the host failed: no operation runs on it."""

    for problem in problems:
        host.log_styled(f"{stage}: {problem}", fg="red", log_func=logger.error)
    host.log_styled(f"{stage} failed: nothing was changed on this host", fg="red", log_func=logger.error)
    state.fail_hosts({host._get_module()})
