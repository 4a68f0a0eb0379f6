"""dlrepro: reproduce published deep-learning findings, claim by claim.

The engine is small: `reproduction` reads a finding's folder, `runner` drives one training
run, `tables` writes the Parquet outputs, `claims` turns measurements into verdicts, `figures`
and `report` show them. Each finding lives in `reproductions/<name>/`.
"""

__version__ = "0.1.0"
