-- The governor may send the next window's first request right at the end of the current one
-- (instead of a second after it) once the server has shown that its reset is rounded up: a request
-- after the window's first was answered with a reset equal to the whole window. A 429 after such an
-- early send refutes it for good.
ALTER TABLE rate_limits
    ADD COLUMN end_exact     boolean NOT NULL DEFAULT false,
    ADD COLUMN exact_refuted boolean NOT NULL DEFAULT false;
