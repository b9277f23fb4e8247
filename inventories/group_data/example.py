"""Data for every host of inventories/example.py (pyinfra's group named after that file)."""

ssh_user = "root"
