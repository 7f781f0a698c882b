#!/usr/bin/env python3
"""Parses a metrics text read from stdin with the parsers of python3-prometheus-client, the one
for the Prometheus text format 0.0.4 (argument "prometheus") or the one for OpenMetrics 1.0.0
(argument "openmetrics"), and prints what the parser made of it, as JSON:

    [{"name": ..., "type": ..., "samples": [{"name": ..., "labels": {...}, "value": ...}]}]

Both parsers name a counter's family without "_total" and its samples with it, so one text
parsed by each gives the same list when the two formats agree. Exit 1, with the parser's error
on stderr, if the parser refuses the text; 2 on bad usage or if the package is missing."""

import json
import sys


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("prometheus", "openmetrics"):
        print("usage: parse_metrics.py prometheus|openmetrics < TEXT", file=sys.stderr)
        return 2
    try:
        if sys.argv[1] == "prometheus":
            from prometheus_client.parser import text_string_to_metric_families
        else:
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
    except ImportError as e:
        print(f"python3-prometheus-client is missing ({e}); scripts/install-deps.sh installs it", file=sys.stderr)
        return 2
    text = sys.stdin.read()
    try:
        families = [{"name": f.name, "type": f.type,
                     "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
                    for f in text_string_to_metric_families(text)]
    except Exception as e:  # the parsers raise ValueError and, on some texts, others
        print(f"{sys.argv[1]} parser: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
