"""Everything that needs /dev/net/tun and the real kernel; every test here carries the `tun` marker."""
