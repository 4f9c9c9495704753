"""Two runs in separate processes give bit-identical parameters."""
import json
import subprocess
import sys

SCRIPT = """
import json
from linreg.train import TrainConfig, train
r = train(TrainConfig(device="cpu", n=100_000, epochs=30, threads=1))
print(json.dumps({"final": r.final_state, "losses": [h.train_loss for h in r.history]}))
"""


def _run() -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_separate_processes_are_bit_identical():
    first, second = _run(), _run()
    assert first == second
    assert len(first["losses"]) == 30
