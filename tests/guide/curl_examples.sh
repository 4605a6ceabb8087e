# Validate schema
curl -X POST http://localhost:8000/api/production/strategies/validate-schema/ \
  -H "Content-Type: application/json" \
  -d '{"name":"RSI","description":"Test","parameters":{},"indicators":{},"entry_rules":[],"exit_rules":[]}'

# Validate code
curl -X POST http://localhost:8000/api/production/strategies/validate-code/ \
  -H "Content-Type: application/json" \
  -d '{"code":"class Strategy: pass","strict_mode":true}'

# Run sandbox test
curl -X POST http://localhost:8000/api/production/strategies/sandbox-test/ \
  -H "Content-Type: application/json" \
  -d '{"strategy_id":123,"timeout":60}'

# Get lifecycle
curl http://localhost:8000/api/production/strategies/123/lifecycle/

# Deploy
curl -X POST http://localhost:8000/api/production/strategies/123/deploy/ \
  -H "Content-Type: application/json" \
  -d '{"commit_message":"Deploy v1.0","create_tag":true,"tag_version":"v1.0.0"}'

# Health check
curl http://localhost:8000/api/production/strategies/health/
