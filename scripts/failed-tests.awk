# failed-tests.awk - names each failed test of .trx files with the first lines of its message.
# scripts/test.sh prints this next to its closing line: CI logs are often read from the tail,
# where dotnet test's own report has scrolled away.
function unescape(s) {
  gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "'", s); gsub(/&#xD;/, "", s); gsub(/&amp;/, "\\&", s)
  return s
}
/<UnitTestResult / {
  failed = /outcome="Failed"/; inmsg = 0; lines = 0
  if (failed) { name = $0; sub(/.*testName="/, "", name); sub(/".*/, "", name); print "FAILED: " unescape(name) }
}
failed && /<Message>/ { inmsg = 1; sub(/.*<Message>/, "") }
failed && inmsg {
  end = sub(/<\/Message>.*/, "")
  if (lines++ < 12) print "    " unescape($0)
  if (end) { inmsg = 0; failed = 0 }
}
