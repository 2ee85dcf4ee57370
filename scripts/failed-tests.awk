# failed-tests.awk - names each failed test of .trx files with the first lines of its message.
# scripts/test.sh prints this next to its closing line: CI logs are often read from the tail,
# where dotnet test's own report has scrolled away.
/<UnitTestResult / {
  failed = /outcome="Failed"/; inmsg = 0; lines = 0
  if (failed) { name = $0; sub(/.*testName="/, "", name); sub(/".*/, "", name); print "FAILED: " name }
}
failed && /<Message>/ { inmsg = 1; sub(/.*<Message>/, "") }
failed && inmsg {
  end = sub(/<\/Message>.*/, "")
  gsub(/&lt;/, "<"); gsub(/&gt;/, ">"); gsub(/&quot;/, "\""); gsub(/&apos;/, "'"); gsub(/&#xD;/, ""); gsub(/&amp;/, "\\&")
  if (lines++ < 12) print "    " $0
  if (end) { inmsg = 0; failed = 0 }
}
