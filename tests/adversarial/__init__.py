"""The adversarial suite: every attack of issue 18 (and the kinds that held) replayed against a real `secondself run` on loopback, as an attacker on the machine or near its microphone would."""
