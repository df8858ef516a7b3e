-- First in migrate's transaction: a lock that the site's writers hold longer than this makes
-- migrate fail (and change nothing) rather than queue them all behind it.
SET LOCAL lock_timeout = '30s';
