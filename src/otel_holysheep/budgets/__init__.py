"""Monthly budgets per team, route or model, and the Prometheus rules that forecast them.

A budgets file (YAML or JSON)::

    budgets:
      - team: search          # or route: /chat, or model: gpt-4.1; several keys narrow further (all must match)
        monthly_usd: 500
      - name: chat-route       # optional; the default names the labels, e.g. "route=/chat"
        route: /chat
        monthly_usd: 200
        min_spend_usd: 5       # optional traffic floor (default: 1% of monthly_usd)
    warn_at: 80%               # optional: warn when the projected month-end spend reaches this share
    page_at: 100%              # optional: page at this share
    min_elapsed: 1d            # optional: no forecast alert before the month is this old (unless already over)

``otel-holysheep rules --budgets budgets.yaml -o holysheep-budgets.yml`` writes the recording and alert rules;
``otel-holysheep report --budgets budgets.yaml`` prints month-to-date, projection and budget.
"""
