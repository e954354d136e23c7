#!/usr/bin/env python3
"""Generates the demo device registry (config/devices.yaml) and demo private keys
(config/dev-keys/*.key). For the embedded demo only: production keys never enter the repository.
Re-running it replaces every demo key."""
import base64
import pathlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

root = pathlib.Path(__file__).resolve().parent.parent / "config"
keys = root / "dev-keys"
keys.mkdir(exist_ok=True)

devices = []
home = "WQ-DWGZ-ZHZF"      # 大王古庄镇综合行政执法大队
other = "WQ-HXW-ZHZF"      # a neighbouring town's team, for cross-agency checks
devices += [(f"DSJ-{i:04d}", home, "bodyCamera") for i in range(1, 31)]
devices += [(f"PDA-{i:04d}", home, "pda") for i in range(21, 41)]
devices += [("SYS-WQ-DWGZ-ZHZF", home, "caseSystem")]
devices += [("PDA-9001", other, "pda"), ("SYS-WQ-HXW-ZHZF", other, "caseSystem")]

lines = [
    "# Registered terminals. publicKey: base64 of the raw 32-byte Ed25519 public key.",
    "# Demo devices only: their private keys are in dev-keys/ for the embedded demo and tests.",
    "# Production: register real terminals here; their private keys never enter the repository.",
    "devices:",
]
for device_id, agency, kind in devices:
    priv = Ed25519PrivateKey.generate()
    raw_priv = priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    raw_pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    (keys / f"{device_id}.key").write_text(base64.b64encode(raw_priv).decode() + "\n")
    lines += [f"  - deviceId: {device_id}", f"    agencyId: {agency}", f"    kind: {kind}",
              f"    publicKey: {base64.b64encode(raw_pub).decode()}"]
(root / "devices.yaml").write_text("\n".join(lines) + "\n")
(keys / "README.md").write_text(
    "Demo device private keys (base64 raw Ed25519), for the embedded demo and the tests only.\n"
    "They are public: anyone can sign as these devices. Never register them on a production ingest.\n")
print(f"{len(devices)} demo devices")
