"""``otel-holysheep doctor``: the tutorial's "metrics are missing" checklist as one read-only command.

Run it with the app's environment (same virtualenv, same variables)::

    otel-holysheep doctor                                             # installation + configuration
    otel-holysheep doctor --metrics http://localhost:9464/metrics \\
        --prometheus http://localhost:9090 --collector http://localhost:13133
    otel-holysheep doctor --app-url https://api.holysheep.ai/v1 --live   # one max_tokens=1 request

One line per check (ok / warn / fail / skip); every warn or fail names the setting or command that fixes it. Exit
status: 0 all checked healthy, 1 warnings only, 2 a failure. Modules: ``install`` (entry points, distro,
exporters, other GenAI instrumentors), ``settings`` (the OTEL_INSTRUMENTATION_HOLYSHEEP_* values, price file, app
URL coverage), ``app`` (/metrics), ``prometheus`` (targets, rules, series, alerts), ``symptoms`` (401s, 429s,
timeouts, usage, prices), ``collector``, ``live``, ``result`` (the finding model), ``render``, ``cli``.
The instrumentation core never imports this package.
"""

from __future__ import annotations
