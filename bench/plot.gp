# Grouped bars for bench/suite.py: one workload, one group per placement, one
# bar per tool (the median), whiskers from min to max, log scale (a clone
# takes milliseconds where a copy takes seconds).  Called as
#   gnuplot -e "datafile='w.dat'; outfile='w.png'; plottitle='...'; ntools=9; \
#               term='pngcairo'; ymin=0.001; ymax=100; colors='#1f77b4 ...'" bench/plot.gp
# The data file: a header line of quoted names, then per placement its label
# and three columns (median, min, max) per tool; NaN where a tool has no time.
# The last "tool" is the bandwidth floor.  colors: one per tool, in order.
if (term eq 'svg') {
  set terminal svg size 1200,560 noenhanced font "sans,11" background "white"
} else {
  set terminal pngcairo size 1200,560 noenhanced font "sans,10"
}
set output outfile
set title plottitle
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.75 border -1
set boxwidth 0.9
set logscale y
set yrange [ymin:ymax]
set ylabel "seconds (median; whiskers min–max; log scale)"
set grid ytics mytics
set key outside right top
set xtics nomirror
plot for [i=0:ntools-1] datafile using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
     title columnheader(2+3*i) lc rgb word(colors, i + 1)
