{{/* A columnar INSERT of .Columns into .Table (writer.go: the column list
is always spelled out). */}}
INSERT INTO {{.DB}}.{{.Table}} ({{range $i, $c := .Columns}}{{if $i}}, {{end}}{{$c}}{{end}})
