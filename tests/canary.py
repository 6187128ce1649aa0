"""The canary API key the secret tests look for."""

CANARY_KEY = "sk-ant-canary-7f3e9d1c2b4a"
