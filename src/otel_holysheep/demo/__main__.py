"""``python -m otel_holysheep.demo``."""

from otel_holysheep.demo.run import main

raise SystemExit(main())
