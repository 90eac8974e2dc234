"""One router per resource: health, detect, leaderboard, survey, and the server-rendered pages."""
