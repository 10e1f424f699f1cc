"""Reports: terminal (rich) and JSON views of an assessment."""
