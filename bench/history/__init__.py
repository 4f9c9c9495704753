"""The history store across commits and machines: filing runs, trends, steps, dashboard, exports."""
