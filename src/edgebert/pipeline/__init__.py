"""`edgebert run`: teacher to phone in one resumable command (compress, export, gate, bench, report)."""
