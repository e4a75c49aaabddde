SELECT * FROM (VALUES
 (1, NULL::text, ''::text, 'say "hi", ok', E'line1\nline2\r\nline3\rend', E'tab\there', E'back\\slash \\N', E'\\.', '  spaces  ',
  'unicode: é 中文 🎉 𝄞', '\x00ff10'::bytea, ARRAY[1,NULL,3], ARRAY['a,b', NULL, '', 'q"t'], '{"a": [1, "x", null], "b": "\"q\""}'::jsonb,
  '2024-02-29 23:59:59.123456+05:30'::timestamptz, '2024-02-29 12:00'::timestamp, 'NaN'::float8, 'Infinity'::float8, '-Infinity'::float8,
  1.7976931348623157e308::float8, '4713-01-01 BC'::date, '1 year 2 mons 3 days 04:05:06.789'::interval,
  1.23456789012345678901234567890::numeric, true),
 (2, '', NULL, ',', E'\n', E'\t', E'\\', '"', ' ', '', ''::bytea, '{}'::int[], '{NULL}'::text[], 'null'::jsonb,
  'infinity'::timestamptz, '-infinity'::timestamp, '-0'::float8, 5e-324::float8, 0::float8, -1.5::float8,
  'infinity'::date, '-1 days'::interval, 'NaN'::numeric, NULL)
) v
