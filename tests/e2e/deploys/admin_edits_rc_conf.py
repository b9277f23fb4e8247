"""
An admin's edit of /etc/rc.conf in the middle of a run, through pyinfra's own
operation (so our cached read cannot know of it): tests/e2e/test_safety_files.py
runs it before deploys/dom0.py, whose read was taken at prepare time.
"""

from pyinfra.operations import server

server.shell(name="An admin edits rc.conf", commands=["printf 'keymap=\"fr.acc\"\\n' >> /etc/rc.conf"])
