"""Everything that leaves the process over HTTP: egress guard, header policy, sender, response capping."""
