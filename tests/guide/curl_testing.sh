# Test health endpoints
curl http://localhost:8000/api/production/strategies/health/
curl http://localhost:8000/api/production/backtests/health/

# Test API root
curl http://localhost:8000/api/
