import requests

BASE_URL = "http://localhost:8000/api/production"

# 1. Validate strategy schema
response = requests.post(f"{BASE_URL}/strategies/validate-schema/", json={
    "name": "RSI_Reversal",
    "description": "RSI reversal strategy",
    "parameters": {"rsi_period": 14},
    "indicators": {"rsi": {"period": 14}},
    "entry_rules": ["rsi < 30"],
    "exit_rules": ["rsi > 70"]
})
print("Schema validation:", response.json())

# 2. Validate code safety
code = """
class MyStrategy:
    def on_bar(self):
        if self.rsi < 30:
            self.buy()
"""

response = requests.post(f"{BASE_URL}/strategies/validate-code/", json={
    "code": code,
    "strict_mode": True
})
print("Code safety:", response.json())

# 3. Run sandbox test
response = requests.post(f"{BASE_URL}/strategies/sandbox-test/", json={
    "strategy_id": 123,
    "timeout": 60,
    "resource_limits": {"cpu": "0.5", "memory": "512m"}
})
print("Sandbox test:", response.json())

# 4. Check health
response = requests.get(f"{BASE_URL}/strategies/health/")
print("Health:", response.json())
